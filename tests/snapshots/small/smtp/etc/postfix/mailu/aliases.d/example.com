# example.com
alice@example.com alice@example.com
bob@example.com carol@example.org
postmaster@example.com alice@example.com
team@example.com alice@example.com, carol@example.org, someone@elsewhere.test
@example.com alice@example.com
# example.net, an alternative name of example.com
alice@example.net alice@example.com
bob@example.net bob@example.com
postmaster@example.net postmaster@example.com
team@example.net team@example.com
@example.net alice@example.com
