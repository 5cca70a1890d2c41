# set -u makes unset variables an error; defaults still work.
set -u
x=1
echo "x=$x ${unset_var-default} ${unset_var:-d2}"
echo "args $#"
( echo "$unset_var"; echo "not reached" ) 2>/dev/null
echo "subshell status $?"
set +u
echo "now [$unset_var]"
