# Field splitting on IFS: whitespace and non-whitespace separators.
show() { printf '%s' "$#:"; for a in "$@"; do printf '<%s>' "$a"; done; echo; }
x='  a  b   c  '
show $x
IFS=:
y='a:b::c:'
show $y
show "$y"
z=' a : b '
show $z
IFS=' :'
show $z
IFS=,
set -- $(echo '1,2,,3')
show "$@"
IFS=
show $x
unset IFS
show $x
v='a
b	c'
show $v
IFS=' 	
' read -r one two <<EOF2
  first   second third
EOF2
show "$one" "$two"
