# bash extension: [[ ]] and (( )).
x=hello
[[ $x == h* ]] && echo "glob match"
[[ $x == "h*" ]] || echo "quoted is literal"
[[ $x =~ ^h(el)lo$ ]] && echo "regex ${BASH_REMATCH[1]}"
[[ -n $x && ! -z $x ]] && echo "and, not"
[[ a < b ]] && echo "string less"
empty=
[[ -z $empty ]] && echo "no splitting in [[ ]]"
(( 3 > 2 )) && echo "arith true"
(( 0 )); echo "arith zero status $?"
i=0; (( i++ )); echo "post-increment from 0: status $? i=$i"
for (( j = 0; j < 3; j++ )); do printf '%s ' $j; done; echo
