#!/usr/bin/env bash
# Install Debian packages that ship real photos usable offline (see the module docstring of
# src/fakedamage/data/photos.py): opencv-doc's examples, mate-backgrounds, lxqt-themes,
# palapeli-data, forensics-samples-files, libjxl-testdata, libelementary-data, tuxtype-data,
# gnome-control-center-data, digikam-data, sddm-theme-maldives (about 170 MB of downloads in
# all, data-only packages, installed without recommends). Best effort: without root or apt
# the demo uses the photos that scikit-image and scikit-learn ship.
# Never installed here: lomiri-wallpapers* and plasma-workspace-wallpapers, which are kept
# as an independent test source.
set -u
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
[ -d /usr/share/doc/opencv-doc/examples ] || need+=(opencv-doc)
[ -d /usr/share/backgrounds/mate ] || need+=(mate-backgrounds)
for pkg in lxqt-themes palapeli-data forensics-samples-files libjxl-testdata libelementary-data \
           tuxtype-data gnome-control-center-data digikam-data sddm-theme-maldives; do
  installed "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get; skipping extra photo packages (${need[*]})" >&2
  exit 0
fi
echo "installing offline photo packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || echo "note: apt-get update failed; trying the package lists at hand" >&2
# One package missing from this release must not stop the others: try all at once, then one by one.
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
  failed=()
  for pkg in "${need[@]}"; do
    apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 || failed+=("$pkg")
  done
  [ ${#failed[@]} -eq 0 ] || echo "note: could not install ${failed[*]}; continuing with the photos at hand" >&2
fi
exit 0
