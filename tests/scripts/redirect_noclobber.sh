# set -C (noclobber) refuses to overwrite with >, but >| forces it.
dir=$(mktemp -d)
echo one > "$dir/f"
set -C
{ echo two > "$dir/f"; } 2>/dev/null || echo "noclobber refused"
cat "$dir/f"
echo three >| "$dir/f"
cat "$dir/f"
echo four >> "$dir/f"
cat "$dir/f"
echo new > "$dir/g" && echo "new file is fine"
echo null > /dev/null && echo "/dev/null is fine"
set +C
echo five > "$dir/f"
cat "$dir/f"
rm -r "$dir"
