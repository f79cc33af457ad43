# example.com
alice@example.com OK
bob@example.com OK
