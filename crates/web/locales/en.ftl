# tokendesk pages, English. Every key here must exist in de.ftl and fr.ftl (a test checks).
# Converted pages: the layout of those pages, the dashboard and your settings.

## Layout
nav-dashboard = Dashboard
nav-desks = Desks
nav-records = Records
nav-new-token = New token
nav-approvals = Approvals
nav-toolset = Toolset
nav-audit = Audit
nav-staff = Staff
sign-out = Sign out
settings-link-title = Your settings: the time zone and language of the pages

## Record states
state-captured = captured
state-burned = burned
state-shipped = shipped
state-delivered = delivered
state-purged = purged
state-cancelled = cancelled
state-lost = lost

## Dashboard
dashboard-page-title = Dashboard · tokendesk
dashboard-title = Dashboard
by-state = Records by state
in-transit = Shipments in transit by age
no-records = No records yet.
provision-a-token = Provision a token
transit-0-3 = 0–3 days
transit-4-7 = 4–7 days
transit-8-n = 8–{ $days } days
transit-over = over { $days } days
overdue-title = Shipments overdue (more than { $days } days in transit)
col-user = User
col-shipped = Shipped
col-carrier = Carrier
col-tracking = Tracking
col-expected = Expected
recent-reveals = Recent reveals
none = None.
col-when = When
col-operator = Operator
col-verification = Verification
col-ticket = Ticket
reveals-per-user = Reveals per user, last 7 days
col-reveals = Reveals

## Your settings
settings-page-title = Your settings · tokendesk
settings-title = Your settings
saved = Saved.
zone-heading = Time zone
zone-in-use = Times on every page are in { $zone }; UTC when you point at them.
zone-from-server = Your browser has not named its zone (JavaScript off), so the server's zone ({ $zone }) is used.
zone-from-browser = That is your browser's zone.
zone-from-you = You chose it here.
zone-label = Your time zone (IANA name such as Europe/Berlin; leave empty to follow your browser)
language-heading = Language
language-in-use = The pages you see in full are in { $language } (the dashboard and this page; the others are in English for now).
language-label = Your language
language-browser = As my browser asks ({ $language })
save = Save
