# Variables, export to child processes, prefix assignments, unset, readonly.
plain=notexported
export EXPORTED=yes
sh -c 'echo "child sees [${plain-}] [$EXPORTED]"'
X=prefix sh -c 'echo "prefix: $X"'
echo "after prefix: [${X-unset}]"
late=1
export late
sh -c 'echo "late export: $late"'
export -n late 2>/dev/null || unset late
sh -c 'echo "unexported: [${late-}]"'
unset plain
echo "plain: ${plain-unset}"
readonly ro=fixed
(ro=changed) 2>/dev/null || echo "readonly assignment failed"
echo "ro=$ro"
a=1 b=2; echo "$a$b"
c=$a$b; echo "$c"
d="x y"; e=$d; echo "$e"
f() { echo "in f: $FV"; }
FV=temp f
echo "after f: [${FV-unset}]"
echo "$((1 + 1))" ${#EXPORTED}
