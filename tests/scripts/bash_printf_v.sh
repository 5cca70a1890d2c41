# bash extension: printf -v and %q.
printf -v out '%05.1f|%s' 3.14159 text
echo "[$out]"
printf -v padded '%-6s|' ab
echo "[$padded]"
arr=(a b c)
printf -v 'arr[1]' '%s-%s' x y
echo "${arr[@]}"
printf -v joined '%s,' one two three
echo "${joined%,}"
printf '%q\n' 'simple' 'with space' "it's" '$dollar' 'semi;colon' ''
printf '%q\n' $'tab\there' $'new\nline'
printf '%q %q\n' '*' '~home'
q=$(printf '%q' 'a b "c"')
eval "set -- $q"; echo "round trip: $1"
declare -i num
printf -v num '%d' 42; echo "into integer: $num"
