#!/bin/sh
# The runtime image's setup, one script so that the test suite runs the very steps the image
# runs (tests/e2e_docker.rs, in a throwaway copy of the system):
#
#   runtime-setup.sh PACKAGE.deb CONF_DIR
#
# installs the package (and, through its Depends on the nginx ABI, Debian's nginx), puts the
# example configuration of CONF_DIR (nginx-conf/package/, which the package also ships in
# /usr/share/doc, a directory Debian's slim images leave out) in place (RTMP on 1935, HLS in /var/www/html/hls, the
# dashboard, stat and HLS on 8080), sends nginx's logs to the container's stdout/stderr and
# checks the result with nginx -t. Nothing is fetched when the container starts.
set -eu

DEB="$1"
CONF="$2"
export DEBIAN_FRONTEND=noninteractive

# A fresh image has no package lists.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]; then
    apt-get update
fi
apt-get install -y --no-install-recommends "$DEB"

cp "$CONF/rtmp.conf" /etc/nginx/rtmp.conf
grep -q '^include /etc/nginx/rtmp.conf;' /etc/nginx/nginx.conf ||
    echo 'include /etc/nginx/rtmp.conf;' >>/etc/nginx/nginx.conf
cp "$CONF/rtmp-site.conf" /etc/nginx/sites-available/rtmp
ln -sf ../sites-available/rtmp /etc/nginx/sites-enabled/rtmp
rm -f /etc/nginx/sites-enabled/default

# `docker logs` shows nginx's logs.
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log

# Also creates hls_path (/var/www/html/hls) owned by www-data, before it becomes a volume.
nginx -t
