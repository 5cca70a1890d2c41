# bash extension: brace expansion.
echo {a,b,c}
echo x{1,2,3}y
echo {a,b}{1,2}
echo {a,{b,c},d}
echo {1..5}
echo {5..1}
echo {1..10..3}
echo {a..e}
echo {e..a..2}
echo {-2..2}
echo pre-{x..z}-post
echo {a,b}-{1..2}
echo "{not,expanded}" '{a,b}'
echo {single} {} {a}
echo a{,b}c
x=v; echo ${x}{1,2}
echo {1..3}{a,b}
mkdir_list=(dir/{src,doc}/{a,b}); echo "${mkdir_list[@]}"
for i in {1..3}; do printf '%s ' "$i"; done; echo
