# Autoresponder of alice@example.com: rendered by mailu-git, do not edit.
require ["vacation", "date", "relational"];

if allof (currentdate :value "ge" "date" "2026-01-01",
          currentdate :value "le" "date" "2026-12-31",
          not address :localpart :contains ["From", "Reply-To"] ["noreply", "no-reply"]) {
  vacation :days 1
    :from "\"Alice\" <alice@example.com>"
    :subject "Away"
    "I am away until Monday.";
}
