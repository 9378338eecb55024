# Sourced by scripts/toolchains/*.sh: apt_ensure WHO PACKAGE... installs the
# Debian packages that are missing (none: nothing happens), with sudo when
# not root. apt's chatter, debconf notices included, is shown only if it
# fails.
apt_ensure() {
  local who=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$who: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  local log
  if ! log=$("${sudo[@]}" apt-get update -qq 2>&1 &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}" 2>&1); then
    printf '%s\n' "$log" >&2
    return 1
  fi
}
