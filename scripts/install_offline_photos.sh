#!/usr/bin/env bash
# Install Debian packages that ship real photos usable offline (opencv-doc's examples,
# mate-backgrounds). Best effort: without root or apt the demo uses the photos that
# scikit-image and scikit-learn ship.
set -u
need=()
[ -d /usr/share/doc/opencv-doc/examples ] || need+=(opencv-doc)
[ -d /usr/share/backgrounds/mate ] || need+=(mate-backgrounds)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get; skipping extra photo packages (${need[*]})" >&2
  exit 0
fi
echo "installing offline photo packages: ${need[*]}" >&2
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null 2>&1 \
  || echo "note: could not install ${need[*]}; continuing with the photos at hand" >&2
