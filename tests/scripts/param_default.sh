# ${x:-w} and ${x-w}: defaults for unset and empty variables.
unset u
e=
s=set
echo "1 ${u:-w} ${e:-w} ${s:-w}"
echo "2 [${u-w}] [${e-w}] [${s-w}]"
echo "3 ${u:-$s} ${u:-"a  b"}"
echo "4 u is ${u-unset}"
echo "5 ${u:-${e:-nested}}"
n=0
echo "6 ${u:-$((n + 1))}"
