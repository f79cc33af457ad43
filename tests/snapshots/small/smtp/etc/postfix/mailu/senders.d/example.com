# example.com
alice@example.com alice@example.com, bob@example.com
bob@example.com bob@example.com
postmaster@example.com alice@example.com, bob@example.com
team@example.com alice@example.com, carol@example.org, someone@elsewhere.test, bob@example.com
@example.com alice@example.com, bob@example.com
# example.net
alice@example.net alice@example.com, bob@example.com
bob@example.net bob@example.com
postmaster@example.net alice@example.com, bob@example.com
team@example.net alice@example.com, carol@example.org, someone@elsewhere.test, bob@example.com
@example.net alice@example.com, bob@example.com
