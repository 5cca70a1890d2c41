# exit N ends the script with N, running nothing after it.
echo before
exit 42
echo after
