# bash extension: $'...' quoting.
echo $'tab:\t|newline:\n|backslash:\\|quote:\'|dq:\"'
printf '%s\n' $'\x41\x42\x43 \101\102\103'
printf '%s\n' $'bell\a' | od -An -c | tr -s ' '
s=$'a\nb\nc'
echo "${#s} chars"
printf '<%s>\n' $'esc \e[0m' | od -An -c | tr -s ' '
x=$'one\ttwo'; IFS=$'\t' read -r p q <<< "$x"; echo "[$p][$q]"
echo $'\u0041\U00000042'
echo "mixed "$'\t'"quotes"
echo $'ctrl-a \cA' | od -An -c | tr -s ' '
echo $'nul ends\0 here'
