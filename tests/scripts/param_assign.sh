# ${x:=w} and ${x=w} assign the default.
unset a b
c=
d=
echo "1 ${a:=first} $a"
echo "2 ${b=second} $b"
echo "3 [${c:=filled}] [$c]"
echo "4 [${d=ignored}] [$d]"
: ${e:=colon}
echo "5 $e"
: ${a:=again}
echo "6 $a"
