<?php
// The carddav plugin (RCMCardDAV) in the webmail service, rendered by mailu-git
// (templates/webmail/carddav.inc.php.j2). Debian does not package the plugin: this file takes
// effect only in an image that installs it under /var/lib/roundcube/plugins/carddav/.

// Address book passwords are stored encrypted with Roundcube's des_key (Mailu's choice).
$prefs['_GLOBAL']['pwstore_scheme'] = 'des_key';
