# ${x:?w} and ${x?w}: fail when unset (or empty with the colon).
set=ok
empty=
echo "1 ${set:?must be set}"
echo "2 [${empty?only unset fails}]"
( : "${empty:?empty}" ) 2>/dev/null
echo "3 status $?"
( : "${nosuch?unset}" ) 2>/dev/null
echo "4 status $?"
( : "${nosuch?}"; echo "not reached" ) 2>/dev/null
echo "5 status $?"
