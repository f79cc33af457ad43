# /etc/dovecot/passwd/example.com: rendered by mailu-git, do not edit. Keys:
#   <address>                   the account: password hash and userdb fields (quota, sieve)
#   <protocol>/<address>        the user may not use this protocol (enable_imap, enable_pop)
#   <address>/token/<n>         app token n, and the networks it may be used from
#   <address>/legacy            Mailu passlib password hash, checked by legacy-checkpw
#   <address>/legacy-token/<n>  Mailu passlib app token, checked by legacy-checkpw
# {SHA512-CRYPT}! matches no password: the user is disabled, or its hash is a legacy one.
alice@example.com:{SHA512-CRYPT}$6$fixedsaltAAAA$QGP1aDdvROIIyWaXROU8R03IpS7GrxrNiviS.k.woTq0ZLI0St8VXVu6yDH7m0Ye8mJ9gb8ySd5xjlgxO74XE0::::::userdb_quota_rule=*:bytes=2000000000 userdb_sieve_env_spam_junk=yes userdb_sieve_env_spam_threshold=70 userdb_sieve_env_spam_seen=yes userdb_sieve_before2=file:/etc/dovecot/sieve/reply/example.com/alice.sieve;bindir=~/.sieve-bin/reply
alice@example.com/token/1:{SSHA512}DW31vgWj15L3v/dSDs2Vd0WDJzhRcBfjTatw3eu9QFvlcNCYfEpniqT0RHIZvC0B7nUCEufEdSOAqp9V/rj1+nNhbHRzYWx0::::::allow_nets=192.0.2.0/24
bob@example.com:{SHA512-CRYPT}$6$fixedsaltBBBB$ZB.NBjIYg7X/VPQaENvw/VojgbtiC4vOGcuoO329ujNljiuzH6ttr17.MLLkoc4PHJHcBrlL1II0GBYBajWsS1::::::userdb_quota_rule=*:bytes=1000000000 userdb_sieve_env_spam_junk=yes userdb_sieve_env_spam_threshold=80 userdb_sieve_env_spam_seen=yes
