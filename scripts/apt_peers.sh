# Sourced by scripts/test.sh and the bench scripts: installs Debian packages the tests and
# benchmarks compare with (libnginx-mod-rtmp, libnginx-mod-stream) without changing what the
# system nginx loads. Debian's nginx module packages enable themselves in
# /etc/nginx/modules-enabled; the suite loads them by path into its own nginx only, so the links
# the installation made are removed again (said once), and the system nginx stays as it was
# (scripts/install.sh rightly refuses to install next to an enabled C module).

# apt_install_peers PKG...: apt-get install, then undo the modules-enabled links it created.
apt_install_peers() {
    local dir=/etc/nginx/modules-enabled before=() link
    [[ -d $dir ]] && mapfile -t before < <(ls -A "$dir")
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    [[ -d $dir ]] || return 0
    for link in "$dir"/*; do
        [[ -L $link ]] || continue
        [[ " ${before[*]} " == *" $(basename "$link") "* ]] && continue
        echo "apt_peers: disabling $link (enabled by installing $*; the tests load modules by path)" >&2
        rm -f "$link"
    done
}
