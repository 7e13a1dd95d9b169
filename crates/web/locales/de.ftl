# tokendesk-Seiten, Deutsch. Jeder Schlüssel aus en.ftl muss hier stehen (ein Test prüft es).

## Layout
nav-dashboard = Übersicht
nav-desks = Arbeitsplätze
nav-records = Datensätze
nav-new-token = Neues Token
nav-approvals = Freigaben
nav-toolset = Werkzeuge
nav-audit = Prüfprotokoll
nav-staff = Personal
sign-out = Abmelden
settings-link-title = Ihre Einstellungen: Zeitzone und Sprache der Seiten

## Record states
state-captured = erfasst
state-burned = gebrannt
state-shipped = versandt
state-delivered = zugestellt
state-purged = vernichtet
state-cancelled = storniert
state-lost = verloren

## Dashboard
dashboard-page-title = Übersicht · tokendesk
dashboard-title = Übersicht
by-state = Datensätze nach Zustand
in-transit = Sendungen unterwegs nach Alter
no-records = Noch keine Datensätze.
provision-a-token = Ein Token einrichten
transit-0-3 = 0–3 Tage
transit-4-7 = 4–7 Tage
transit-8-n = 8–{ $days } Tage
transit-over = über { $days } Tage
overdue-title = Überfällige Sendungen (mehr als { $days } Tage unterwegs)
col-user = Benutzer
col-shipped = Versandt
col-carrier = Versanddienst
col-tracking = Sendungsnummer
col-expected = Erwartet
recent-reveals = Letzte Code-Freigaben
none = Keine.
col-when = Wann
col-operator = Mitarbeiter
col-verification = Prüfung
col-ticket = Ticket
reveals-per-user = Code-Freigaben je Benutzer, letzte 7 Tage
col-reveals = Freigaben

## Your settings
settings-page-title = Ihre Einstellungen · tokendesk
settings-title = Ihre Einstellungen
saved = Gespeichert.
zone-heading = Zeitzone
zone-in-use = Zeiten auf allen Seiten in { $zone }; UTC, wenn Sie darauf zeigen.
zone-from-server = Ihr Browser hat keine Zeitzone genannt (JavaScript aus), daher gilt die des Servers ({ $zone }).
zone-from-browser = Das ist die Zeitzone Ihres Browsers.
zone-from-you = Sie haben sie hier gewählt.
zone-label = Ihre Zeitzone (IANA-Name wie Europe/Berlin; leer lassen, um dem Browser zu folgen)
language-heading = Sprache
language-in-use = Die vollständig übersetzten Seiten sind auf { $language } (die Übersicht und diese Seite; die anderen vorerst auf Englisch).
language-label = Ihre Sprache
language-browser = Wie mein Browser es wünscht ({ $language })
save = Speichern
