exec 2>&1
echo $(echo nested $(echo deep))
printf 'b\na\n' | sort | head -1
yes | head -2
seq 1 5000 | wc -l
cat /dev/zero | head -c 100000 | wc -c
false; echo "false=$?"
sh -c 'exit 300'; echo "exit300=$?"
sh -c 'kill -9 $$'; echo "kill9=$?"
# The shell's own "Terminated" line for a killed job depends on when it reaps the job (inside
# `wait` or before it), which the kvm VM's timing changed about once in ten full runs: the
# status is what is compared.
sleep 5 & kill $!; wait $! 2>/dev/null; echo "term=$?"
sleep 0.2 & sleep 0.1 & wait; echo waited
for i in 1 2 3; do echo $i | sed s/^/n/; done
echo abc | (read x; echo got $x)
trap 'echo trapped' USR1; kill -USR1 $$; echo after-trap
mkdir -p /tmp/kvmbb && echo p > /tmp/kvmbb/p && sh -c 'cat /tmp/kvmbb/p; echo c >> /tmp/kvmbb/p' && cat /tmp/kvmbb/p; rm -r /tmp/kvmbb
exec echo replaced; echo not-reached
