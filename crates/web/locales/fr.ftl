# Pages de tokendesk, français. Chaque clé de en.ftl doit figurer ici (un test le vérifie).

## Layout
nav-dashboard = Tableau de bord
nav-desks = Postes
nav-records = Dossiers
nav-new-token = Nouveau jeton
nav-approvals = Approbations
nav-toolset = Outils
nav-audit = Journal d'audit
nav-staff = Personnel
sign-out = Se déconnecter
settings-link-title = Vos réglages : fuseau horaire et langue des pages

## Record states
state-captured = saisi
state-burned = programmé
state-shipped = expédié
state-delivered = livré
state-purged = détruit
state-cancelled = annulé
state-lost = perdu

## Dashboard
dashboard-page-title = Tableau de bord · tokendesk
dashboard-title = Tableau de bord
by-state = Dossiers par état
in-transit = Envois en cours par ancienneté
no-records = Aucun dossier pour l'instant.
provision-a-token = Préparer un jeton
transit-0-3 = 0 à 3 jours
transit-4-7 = 4 à 7 jours
transit-8-n = 8 à { $days } jours
transit-over = plus de { $days } jours
overdue-title = Envois en retard (plus de { $days } jours en route)
col-user = Utilisateur
col-shipped = Expédié
col-carrier = Transporteur
col-tracking = Suivi
col-expected = Prévu
recent-reveals = Codes révélés récemment
none = Aucun.
col-when = Quand
col-operator = Opérateur
col-verification = Vérification
col-ticket = Ticket
reveals-per-user = Codes révélés par utilisateur, 7 derniers jours
col-reveals = Codes révélés

## Your settings
settings-page-title = Vos réglages · tokendesk
settings-title = Vos réglages
saved = Enregistré.
zone-heading = Fuseau horaire
zone-in-use = Les heures de toutes les pages sont en { $zone } ; UTC au survol.
zone-from-server = Votre navigateur n'a pas indiqué son fuseau (JavaScript désactivé) : celui du serveur ({ $zone }) s'applique.
zone-from-browser = C'est le fuseau de votre navigateur.
zone-from-you = Vous l'avez choisi ici.
zone-label = Votre fuseau horaire (nom IANA comme Europe/Paris ; vide pour suivre le navigateur)
language-heading = Langue
language-in-use = Les pages entièrement traduites sont en { $language } (le tableau de bord et cette page ; les autres restent en anglais pour l'instant).
language-label = Votre langue
language-browser = Celle que demande mon navigateur ({ $language })
save = Enregistrer
