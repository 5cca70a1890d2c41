# echo: arguments, -n, -e, -E, and what it leaves alone.
echo plain words   spaced
echo
echo -n "no newline"; echo "|"
echo -e 'escapes:\tTAB\\ and \x41'
echo -E 'raw:\tTAB'
echo 'default does not interpret: \t\n'
echo -n -e 'a\nb'; echo
echo -ne 'c\n'
echo -- "dash dash is printed"
echo -x "unknown option is printed"
echo -e 'stop here\c and not this'
echo
echo "" ""
echo "*"
