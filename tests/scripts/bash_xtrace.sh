# set -x with PS4: expanded each time, its first character repeated per
# level of $( ); $LINENO in it and in text read at run time.
# stderr: compared
PS4='+$LINENO '
set -x
echo a
x=$(echo b)
y=$(echo c
echo d)
eval 'echo e
echo f'
set +x
PS4='[$(echo trace)] '
set -x
echo g
set +x
echo "x=$x y=$y"
