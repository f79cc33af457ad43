# The smtp daemon check (tests/it/daemons/smtp.rs), run in the bookworm image over the rendered
# files of the smtp service. It builds the tables as the container's pre_start does, asks postfix
# to judge the configuration, and prints what postfix resolves, one result a line:
#   Q <table> <key> = <value>   postmap -q on one table ("-" when the key is absent)
#   T <address> => <final>      a real postfix (sendmail -bv) expanding virtual aliases
#   R <sender> <address> <code> the answer of port 25's smtpd to RCPT TO
# The test appends `q TABLE KEY`, `trace ADDRESS...` and `rcpt SENDER ADDRESS...` calls.
set -eu
mkdir -p /etc/mailu/tls
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=smtp.test \
    -keyout /etc/mailu/tls/key.pem -out /etc/mailu/tls/cert.pem 2>/dev/null

sh /etc/postfix/mailu/build-maps.sh 2> /tmp/build.err || { cat /tmp/build.err; echo "build-maps.sh failed"; exit 1; }
# A second run finds nothing to rebuild.
test -z "$(sh /etc/postfix/mailu/build-maps.sh 2>&1)" || { echo "build-maps.sh rebuilt unchanged tables"; exit 1; }

postfix check > /tmp/check.out 2>&1 || { cat /tmp/check.out; echo "postfix check failed"; exit 1; }
test ! -s /tmp/check.out || { cat /tmp/check.out; echo "postfix check is not silent"; exit 1; }
postconf -n > /tmp/postconf.out 2> /tmp/postconf.err
test ! -s /tmp/postconf.err || { cat /tmp/postconf.err; echo "postconf -n warns"; exit 1; }
sed 's/^/N /' /tmp/postconf.out
postconf -M | sed 's/^/M /'
echo "S sasl_passwd.lmdb $(stat -c %a /etc/postfix/sasl_passwd.lmdb)"

q() {
    value=$(postmap -q "$2" "$1") || value=-
    echo "Q $1 $2 = $value"
}

started=no
start() {
    [ "$started" = yes ] && return 0
    # No antispam here: its milter would answer nothing and every command would be tempfailed.
    postconf -e maillog_file=/var/log/mail.log smtpd_milters= smtpd_authorized_xclient_hosts=127.0.0.1
    postfix start 2>/dev/null
    started=yes
}

# trace ADDRESS...: the final recipients of each address, from the delivery attempts of
# `sendmail -bv` (the lmtp and smtp attempts fail: there is no network).
trace() {
    start
    : > /tmp/expect
    for a in "$@"; do
        sendmail -bv "$a" < /dev/null > /dev/null
        echo "$a" >> /tmp/expect
    done
    i=0
    while [ "$i" -lt 300 ]; do
        done_all=yes
        while read -r a; do
            grep -q -e "orig_to=<$a>" -e "to=<$a>, relay" /var/log/mail.log 2>/dev/null || done_all=no
        done < /tmp/expect
        [ "$done_all" = yes ] && break
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    grep -E 'postfix/(lmtp|smtp|error)\[' /var/log/mail.log | grep -v 'to=<root@' |
        sed -E 's/.*: to=<([^>]*)>(, orig_to=<([^>]*)>)?, .*/T \3 => \1/; s/^T  => (.*)/T \1 => \1/' | sort -u
    : > /var/log/mail.log
}

# rcpt SENDER ADDRESS...: the reply code of port 25 to RCPT TO for each address, for a client
# outside mynetworks (203.0.113.9, set with XCLIENT, which only the loopback may use) sending as
# SENDER ("" is the null sender).
rcpt() {
    start
    from=$1
    shift
    for a in "$@"; do
        reply=$(printf 'EHLO client.test\r\nXCLIENT ADDR=203.0.113.9 NAME=[UNAVAILABLE]\r\nEHLO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$from" "$a" |
            busybox nc 127.0.0.1 25 | tr -d '\r' | grep -E '^[0-9]{3} ' | sed -n 6p)
        echo "R <$from> $a ${reply%% *}"
    done
}
