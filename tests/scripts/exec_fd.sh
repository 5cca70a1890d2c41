# exec with redirections only changes the shell's own descriptors.
dir=$(mktemp -d)
exec 3>"$dir/three"
echo "line one" >&3
echo "line two" >&3
exec 3>&-
cat "$dir/three"
exec 4<"$dir/three"
read -r a <&4
read -r b <&4
exec 4<&-
echo "read [$a] [$b]"
exec 5>>"$dir/three"
echo "appended" >&5
exec 5>&-
wc -l < "$dir/three"
exec 6>"$dir/six"
{ echo "group to 6"; } >&6
printf 'printf to 6\n' >&6
sed 's/^/six: /' "$dir/six"
exec 6>&-
exec 7>&1
exec >"$dir/stdout"
echo "into the file"
exec 1>&7 7>&-
echo "back on stdout"
cat "$dir/stdout"
rm -r "$dir"
