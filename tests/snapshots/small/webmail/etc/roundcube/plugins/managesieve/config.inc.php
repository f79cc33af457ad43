<?php
// Roundcube's managesieve plugin in the webmail service, rendered by mailu-git
// (templates/webmail/managesieve.inc.php.j2): users' sieve scripts on imap's ManageSieve port.

$config = [];
$config['managesieve_host'] = 'tls://imap:4190';
// imap's certificate names the public host, not the service (see config.inc.php).
$config['managesieve_conn_options'] = [
    'ssl' => ['verify_peer' => false, 'verify_peer_name' => false],
];
$config['managesieve_mbox_encoding'] = 'UTF8';
