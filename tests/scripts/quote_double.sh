# Double quotes expand $, ` and $( ), and backslash only escapes $ ` " \ and newline.
x='a   b'
echo "$x"
echo $x
echo "\$x is $x, \"quoted\", back\\slash, \n stays, tab\there"
echo "cmd: $(echo inner) and `echo old`"
echo "joined \
line"
echo "${x}suffix" "$x"suffix
y="single 'inside' double"
echo "$y"
echo "" "empty" ""
printf '[%s]\n' "" "a b" "$x"
