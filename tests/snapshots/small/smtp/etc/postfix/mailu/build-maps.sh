#!/bin/sh
# build-maps.sh: joins the per-domain fragments of the postfix tables rendered by mailu-git and
# compiles the lmdb ones with postmap. Run before postfix starts and on every refresh (see
# services/smtp.toml); rendered from templates/smtp/build-maps.sh.j2.
#
# Each table is built next to its final name and renamed over it, so postfix never reads half a
# table; a table whose source did not change is left alone, so its daemons are not restarted.
# Only fragments of the domains listed in `domains` are joined: a fragment left behind by a removed
# domain is ignored.
set -eu

dir=/etc/postfix/mailu
umask 022

# join NAME: the fragments NAME.d/<domain>, in the order of `domains`, into NAME.new.
join() {
    : > "$dir/$1.new"
    if [ -f "$dir/domains" ]; then
        while read -r domain _; do
            case "$domain" in ''|'#'*) continue ;; esac
            if [ -f "$dir/$1.d/$domain" ]; then
                cat "$dir/$1.d/$domain" >> "$dir/$1.new"
            fi
        done < "$dir/domains"
    fi
}

# install FILE TYPE: FILE.new becomes FILE (compiled to FILE.lmdb for lmdb) unless unchanged.
install_table() {
    if cmp -s "$1.new" "$1" && { [ "$2" != lmdb ] || [ -f "$1.lmdb" ]; }; then
        rm -f "$1.new"
        return 0
    fi
    if [ "$2" = lmdb ]; then
        postmap "lmdb:$1.new"
        mv -f "$1.new.lmdb" "$1.lmdb"
    fi
    mv -f "$1.new" "$1"
    echo "build-maps.sh: built $1" >&2
}

# single FILE: a table rendered whole, or absent (an empty table). FILE.sum remembers what the
# compiled FILE.lmdb was made from.
single() {
    if [ -f "$1" ]; then sum=$(cksum < "$1"); else sum=absent; fi
    if [ -f "$1.lmdb" ] && [ "$(cat "$1.sum" 2>/dev/null || true)" = "$sum" ]; then
        return 0
    fi
    if [ -f "$1" ]; then cp "$1" "$1.new"; else : > "$1.new"; fi
    postmap "lmdb:$1.new"
    mv -f "$1.new.lmdb" "$1.lmdb"
    rm -f "$1.new"
    echo "$sum" > "$1.sum"
    echo "build-maps.sh: built $1" >&2
}

for name in mailboxes aliases senders; do
    join "$name"
    install_table "$dir/$name" lmdb
done
for name in wildcards sender_wildcards; do
    join "$name"
    install_table "$dir/$name" regexp
done

for table in "$dir/domains" "$dir/sender_access" "$dir/transport" "$dir/wildcard_senders" \
    /etc/postfix/tls_policy.map /etc/postfix/transport.map; do
    single "$table"
done

# The relay password: readable by root only, like its source (postfix reads it as root, before
# dropping privileges).
umask 077
single /etc/postfix/sasl_passwd
