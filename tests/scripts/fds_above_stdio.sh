# Descriptors 3 and up reach commands, as children of bash inherit them:
# the flock idiom, `cmd >&3` after `exec 3>f`, `3>f` on one command or a
# group, `exec 3>&1`, a descriptor for reading.
dir=$(mktemp -d)
cd "$dir"
exec 200>lockfile
flock -n 200 && echo locked
exec 3>f
sh -c 'echo x >&3'
exec 3>&-
cat f
sh -c 'echo y >&3' 3>g; cat g
{ sh -c 'echo z >&4'; } 4>h; cat h
exec 5>&1; out=$(sh -c 'echo to-5 >&5; echo captured'); echo "out=$out"
printf 'line1\nline2\n' > in; exec 6<in; sh -c 'read l <&6; echo "read $l"'
sh -c 'echo nothing >&7' 2>/dev/null || echo "fd 7 is closed: $?"
cd /; rm -r "$dir"
