# Bracket expressions with character classes, in case and in ${x#...}.
for w in abc 123 'a b' X9 _x ''; do
    case $w in
        '') echo "[] empty" ;;
        *[[:space:]]*) echo "[$w] has space" ;;
        [[:digit:]]*) echo "[$w] starts with digit" ;;
        [[:upper:]][[:digit:]]) echo "[$w] upper then digit" ;;
        [[:alpha:]]*) echo "[$w] alphabetic start" ;;
        [!a-z]*) echo "[$w] other start" ;;
    esac
done
v=abc123def
echo "${v#*[[:digit:]]}" "${v##*[[:digit:]]}" "${v%%[[:digit:]]*}"
case ']' in []]) echo "bracket in bracket" ;; esac
case '-' in [a-]) echo "dash at end" ;; esac
case 'b' in [!]a]) echo "negated with bracket" ;; esac
