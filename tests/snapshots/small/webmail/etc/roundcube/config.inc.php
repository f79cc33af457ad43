<?php
// Roundcube's configuration in the webmail service, rendered by mailu-git
// (templates/webmail/config.inc.php.j2). It replaces Debian's /etc/roundcube/config.inc.php and
// its dbconfig-common include: defaults.inc.php holds everything not set here.

$config = [];

// Database: SQLite in the service's volume (Roundcube creates it), unless the service's env sets
// ROUNDCUBE_DB_DSNW (e.g. `{ secret = "webmail/db_dsnw" }` holding mysql://user:pass@host/db).
$config['db_dsnw'] = getenv('ROUNDCUBE_DB_DSNW') ?: 'sqlite:////var/lib/mailu-webmail/roundcube.db?mode=0640';

// Encrypts the IMAP password kept in the session (and CardDAV passwords).
$config['des_key'] = '@@mailu-secret:webmail/roundcube_key:94f0bb5b7f50e6aa0889337e38371c938d3d9359@@';
$config['cipher_method'] = 'AES-256-CBC';

// Logs go to the worker's stdout, which php-fpm passes to the container's stderr.
$config['log_driver'] = 'stdout';

// Mail servers: webmail talks to imap and smtp directly, over the stack's network (sieve scripts:
// plugins/managesieve/config.inc.php).
// Their certificates name the public host, not the service, and may come from a private CA: the
// connection is encrypted but the peer is not verified (as in Mailu).
$config['imap_host'] = 'tls://imap:143';
$config['smtp_host'] = 'tls://smtp:587';
$config['imap_conn_options'] = $config['smtp_conn_options'] = [
    'ssl' => ['verify_peer' => false, 'verify_peer_name' => false],
];
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';

// Sizes: a composed message stays under mail.message_size_limit; php.ini limits each upload to
// about two thirds of it (base64 makes an attachment a third larger).
$config['max_message_size'] = '50000000';

// Web: front proxies /webmail/ here with the prefix stripped.
$config['request_path'] = '/webmail';
$config['trusted_host_patterns'] = [
    'mail.example.com',
];
// Minutes of inactivity before a session ends (web.session_lifetime).
$config['session_lifetime'] = 43200;

// Mailu's choices.
$config['product_name'] = 'Mailu Webmail';
$config['support_url'] = '/admin';
$config['skin'] = 'elastic';
$config['identities_level'] = 0;
$config['reply_all_mode'] = 1;
$config['zipdownload_selection'] = true;
$config['mdn_use_from'] = true;
$config['quota_zero_as_unlimited'] = true;
$config['enigma_pgp_homedir'] = '/var/lib/mailu-webmail/gpg';
// Spell checking would send drafts to an outside service (pspell is not in the image).
$config['enable_spellcheck'] = false;

// Plugins: web.roundcube_plugins, or Mailu's set without its SSO plugin ("mailu"). Like Mailu,
// only the plugins the image has are loaded (carddav is not packaged in Debian).
$mailu_plugins = [
    'archive',
    'zipdownload',
    'markasjunk',
    'managesieve',
    'enigma',
    'carddav',
];
$mailu_plugin_dir = defined('RCUBE_PLUGINS_DIR') ? RCUBE_PLUGINS_DIR : '/var/lib/roundcube/plugins/';
$config['plugins'] = array_values(array_filter(
    $mailu_plugins,
    fn ($p) => is_file($mailu_plugin_dir . $p . '/' . $p . '.php')
));
unset($mailu_plugins, $mailu_plugin_dir);
