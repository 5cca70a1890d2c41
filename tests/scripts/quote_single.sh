# Single quotes keep everything literal, including $, `, \ and newlines.
x=value
echo 'plain $x `echo no` \n \\ "double"'
echo 'it''s' 'two'words
echo 'multi
line'
echo '' | wc -c
printf '%s|' 'a  b' '' "$x"; echo
