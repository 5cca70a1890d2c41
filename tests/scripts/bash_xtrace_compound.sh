# stderr: compared
# set -x traces [[ ]] test by test, (( )) and for (( )) parts, for-in
# each round, case, and an empty assignment as bash does.
set -x
[[ -n x && 1 -eq 1 ]]; (( 1+2 )); for i in a; do :; done; case x in x) :;; esac; x=$(true); y=
w="p q"; for i in a $w; do :; done; y=5; (( $y + 1 )); case $w in *) ;; esac; [[ $w == p* ]]; [[ ! -e /nope ]]; [[ ( -n a ) ]]
for ((i=0;i<2;i++)); do :; done; while [[ $x != 1 ]]; do x=1; done; [[ $x == 1 || -z "" ]]; (( x = 2 * 3 )); z= true
[[ abc =~ b(c) ]]; [[ "" < a ]]
((i=1)); (( i+=1 ));(( i ))
