# ${x:+w} and ${x+w}: alternatives when set (and non-empty with the colon).
unset u
e=
s=value
echo "1 [${u:+alt}] [${e:+alt}] [${s:+alt}]"
echo "2 [${u+alt}] [${e+alt}] [${s+alt}]"
echo "3 [${s:+$s-$s}]"
set -- a b
echo "4 [${1+first is $1}] [${3+third}]"
