# Backslash outside quotes quotes the next character.
echo \$HOME \`x\` \\ \" \'
echo a\ b\ \ c
printf '[%s]\n' a\ b c\\d \*
echo one\
two
echo \\n \t
x=\*
echo "$x"
