# bash extension: PIPESTATUS.
true | false | true
echo "${PIPESTATUS[@]}"
false
echo "single: ${PIPESTATUS[@]}"
(exit 3) | (exit 4)
echo "subshells: ${PIPESTATUS[0]} ${PIPESTATUS[1]} count ${#PIPESTATUS[@]}"
! false | true
echo "negated: $? ${PIPESTATUS[*]}"
echo x | grep -q y | cat
echo "grep: ${PIPESTATUS[@]}"
f() { return 7; }
f | true
echo "function: ${PIPESTATUS[@]}"
printf 'a\nb\n' | sort | head -n 1 > /dev/null
echo "three: ${PIPESTATUS[@]}"
true
echo "reset: ${PIPESTATUS[@]}"
