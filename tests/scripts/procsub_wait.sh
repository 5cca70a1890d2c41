# `wait` waits for the last process substitution (a thread in nsh, a
# process in bash).
echo hi > >(sleep .3; tr a-z A-Z)
wait
echo after
