// A JVM's own use of the host, packed (tests/e2e/test_e2e_java.py): threads, the collector,
// and an implicit null check (HotSpot turns it into a SIGSEGV its handler answers).
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class JavaThreads {
    static int lengthOf(String s) {
        return s.length();
    }

    public static void main(String[] args) throws Exception {
        final long[] sums = new long[4];
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < sums.length; i++) {
            final int k = i;
            Thread t = new Thread(() -> {
                long s = 0;
                for (int j = 0; j < 200000; j++) {
                    s += new int[64].length + String.valueOf(j + k).length();
                }
                sums[k] = s;
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        System.gc();
        int caught = 0;
        for (int i = 0; i < 1000; i++) {
            try {
                lengthOf(i % 2 == 0 ? null : "x");
            } catch (NullPointerException e) {
                caught++;
            }
        }
        System.out.println("sums " + Arrays.toString(sums) + ", null checks caught " + caught);
    }
}
