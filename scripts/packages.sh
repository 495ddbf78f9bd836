# Sourced by the scripts that need Debian packages (build.sh, build_nginx.sh, test.sh).

# missing_packages PKG...: the packages of PKG... that are not installed, one per line.
missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

# ensure_packages WHO PKG...: installs the missing ones as root; otherwise names them (WHO is
# the script's name in its messages) and fails.
ensure_packages() {
    local who=$1 missing=()
    shift
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "$who: missing packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
    echo "$who: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
