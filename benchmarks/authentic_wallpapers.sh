#!/usr/bin/env bash
# False positives on authentic high-resolution photographs: the photographic wallpapers of three
# Debian packages (free licences; see ../shared/data/README.md). Since the second shipped model,
# the lomiri and plasma photos are among its synthetic training sources (scripts/train_default.py);
# only the 12 mate-backgrounds nature photos (capitalised names) are held out from it.
#
#   bash benchmarks/authentic_wallpapers.sh [WORKDIR] [METHOD...]
#
# Downloads the packages with apt-get into WORKDIR (default /tmp/imlf-wallpapers), collects 34
# photos (mate-backgrounds nature/*.jpg, lomiri-wallpapers backgrounds/*_by_*.jpg, seven plasma
# photo wallpapers' images/1920x1080.jpg) into WORKDIR/photos, and prints for each method how many
# `imlforensic detect` calls manipulated, with their scores. Nothing is written into the repository.
set -euo pipefail
work="${1:-/tmp/imlf-wallpapers}"
shift || true
methods=("${@:-mvcam mvcam-net classical}")
imlf="${IMLFORENSIC:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/imlforensic}"
mkdir -p "$work/deb" "$work/photos"
cd "$work/deb"
[ -n "$(ls ./*.deb 2>/dev/null)" ] || apt-get download lomiri-wallpapers-16.04 mate-backgrounds plasma-workspace-wallpapers
for deb in ./*.deb; do dpkg -x "$deb" x; done
share=x/usr/share
cp "$share"/backgrounds/mate/nature/*.jpg "$share"/backgrounds/*_by_*.jpg "$work/photos/"
for w in Autumn BytheWater DarkestHour EveningGlow FallenLeaf OneStandsOut Path; do
    cp "$share/wallpapers/$w/contents/images/1920x1080.jpg" "$work/photos/plasma_$w.jpg"
done
echo "$(ls "$work/photos" | wc -l) photos in $work/photos"
for method in ${methods[*]}; do
    "$imlf" detect "$work/photos" --method "$method" --json --quiet 2>/dev/null | python3 -c '
import json, sys
records = [json.loads(line) for line in sys.stdin if line.strip()]
flagged = sorted((r["score"], r["input"]["path"].rsplit("/", 1)[-1]) for r in records if r.get("verdict") == "manipulated")
print(f"{sys.argv[1]}: {len(flagged)} of {len(records)} flagged:", ", ".join(f"{n} {s:.2f}" for s, n in reversed(flagged)))
' "$method"
done
