set -e
mkdir -p /tmp/w/sub
cd /tmp/w
echo "banana apple cherry" | tr ' ' '\n' > fruits.txt
sort fruits.txt > sorted.txt
cat sorted.txt
wc -l < sorted.txt
grep -n an sorted.txt
sed 's/a/A/g' sorted.txt | awk '{print NR": "$1}'
cp sorted.txt sub/copy.txt
mv sub/copy.txt sub/moved.txt
find /tmp/w | sort
tar -cf /tmp/t.tar -C /tmp w
rm -r /tmp/w
ls /tmp | grep -c "^t.tar$"
tar -xf /tmp/t.tar -C /tmp
cat /tmp/w/sub/moved.txt | head -1
x=$(ls /tmp/w | wc -l); echo "count=$x"
if test "$x" -gt 2; then echo big; else echo small; fi
(echo one; echo two) > /tmp/both.txt; cat /tmp/both.txt
{ echo a; ls /nonexistent 2>/dev/null || echo fallback; } | cat
exit 7
