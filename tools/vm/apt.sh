# shellcheck shell=bash
# Sourced by the set-up scripts: a private apt configuration that reaches
# bookworm-backports, bookworm-security and deb-src without touching the
# system's own sources. Everything it keeps lives under $WSE_CACHE.

WSE_CACHE=${WSE_CACHE:-/var/cache/wse}
WSE_APT_DIR=$WSE_CACHE/apt

wse_apt() {
	apt-get -q -o Dir::Etc::SourceList="$WSE_APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$WSE_APT_DIR/lists" \
		-o Dir::Cache="$WSE_APT_DIR/cache" "$@"
}

wse_apt_cache() {
	apt-cache -o Dir::Etc::SourceList="$WSE_APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$WSE_APT_DIR/lists" \
		-o Dir::Cache="$WSE_APT_DIR/cache" "$@"
}

# Refreshes the package lists at most once every six hours.
wse_apt_setup() {
	mkdir -p "$WSE_APT_DIR/lists/partial" "$WSE_APT_DIR/cache/archives/partial"
	local mirror=http://deb.debian.org/debian
	cat > "$WSE_APT_DIR/sources.list.new" <<-LIST
	deb $mirror bookworm main
	deb $mirror bookworm-updates main
	deb $mirror bookworm-backports main
	deb-src $mirror bookworm-backports main
	deb $mirror-security bookworm-security main
	LIST
	mv "$WSE_APT_DIR/sources.list.new" "$WSE_APT_DIR/sources.list"
	local stamp=$WSE_APT_DIR/updated
	if [ -z "$(find "$stamp" -mmin -360 2>/dev/null)" ]; then
		wse_apt update >/dev/null && touch "$stamp"
	fi
}

# wse_apt_install [-t bookworm-backports] PKG...: installs what is missing.
wse_apt_install() {
	local release=()
	if [ "$1" = -t ]; then
		release=(-t "$2")
		shift 2
	fi
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	wse_apt_setup
	echo "wse: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive wse_apt install -y --no-install-recommends \
		"${release[@]}" "${missing[@]}" >/dev/null
}
