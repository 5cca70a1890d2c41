# bash extension: case modification, substitution, substrings, indirection.
s="Hello World"
echo "${s^^} ${s,,} ${s^}"
echo "${s/o/0} ${s//o/0} ${s/#H/J} ${s/%d/D}"
echo "${s:6} ${s:0:5} ${s: -5:3}"
name=s
echo "${!name}"
printf -v out '%03d' 7; echo "$out"
echo $'tab\there' "$((2**10))"
echo {a,b,c}x {1..4}
