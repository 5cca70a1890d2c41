# bash extension: declare -p, -f, -F and attribute changes.
s="quote \"this\" \$and \`that\` \\"
declare -p s
declare -i n=2*21
declare -p n
declare -a a=(x "y z")
declare -p a
declare -r r=fixed
declare -p r
export e=exported
declare -p e
declare -x -i both=7
declare -p both
declare unset_var
declare -p unset_var
declare -a declared_array
declare -p declared_array
t=$'tab\there'
declare -p t
declare +x e
declare -p e
export ex=1; export -n ex; declare -p ex
typeset -i ty=3+4; echo "typeset: $ty"
declare -p does_not_exist 2>/dev/null || echo "not found: $?"
f() { :; }
g() { echo g; }
declare -F
declare -F f
declare -f g >/dev/null && echo "g is a function"
declare -f nosuch >/dev/null || echo "nosuch is not"
h() { local -a la=(1 2); local -i li=4; declare -p la li; }
h
k() { declare -g from_function=yes; local lo=1; }
k; echo "global from function: $from_function, local gone: [${lo-unset}]"
declare -i conv=10; conv=conv+1; echo "integer self-reference: $conv"
declare -i bad; bad=hello; echo "string in integer: $bad"
