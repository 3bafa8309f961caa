/*
 * QuartzNext: the reference side of the Quartz differential check.
 *
 * Reads lines "EXPR<TAB>ZONE<TAB>FROM_ISO<TAB>COUNT" on standard input and
 * prints, for each, one JSON line in exactly the format of
 * `rotactl cron EXPR --tz ZONE --from FROM -n COUNT --json`, computed with
 * the real org.quartz.CronExpression (Quartz 2.3.2):
 *
 *   {"expr":"...","tz":"...","from":"...","next":["...", ...]}
 *   {"expr":"...","error":"..."}        when Quartz rejects the input
 *
 * Exactly one output line per input line, so that the caller can pair them
 * up; a malformed input line gets an error line too.
 *
 * Times are ISO-8601 local wall time of ZONE with a numeric offset (never
 * "Z") and whole seconds, as rotactl prints them.
 */

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Date;
import java.util.TimeZone;

import org.quartz.CronExpression;

public final class QuartzNext {
	/*
	 * rotad documents that nothing fires on or after 2100-01-01 local time.
	 * Quartz 2.3.2 has no such horizon: its MAX_YEAR is "the current year
	 * + 100", so a year field of '*' keeps producing instants into the
	 * 2120s.  Stop at rotad's horizon so that the two sides are compared on
	 * the same range; an expression that names only years past it is still
	 * accepted by Quartz and prints "next":[].
	 */
	private static final int LAST_YEAR = 2099;

	/*
	 * "xxxxx" prints +HH:MM, or +HH:MM:SS for the odd pre-1970 LMT offset,
	 * and never "Z", which is what rotactl promises.
	 */
	/* Longest a single line may take; real answers take milliseconds. */
	private static final long TIMEOUT_MS = 5000;

	private static final DateTimeFormatter ISO = DateTimeFormatter
	    .ofPattern("uuuu-MM-dd'T'HH:mm:ssxxxxx");

	private QuartzNext() {
	}

	public static void main(String[] args) throws Exception {
		BufferedReader in = new BufferedReader(
		    new InputStreamReader(System.in, StandardCharsets.UTF_8));
		PrintStream out = new PrintStream(System.out, false, "UTF-8");
		String line;

		while ((line = in.readLine()) != null) {
			out.println(evaluate(line));
			/* Flush per line so a caller can stream and pair. */
			out.flush();
		}
	}

	static String evaluate(String line) {
		String[] f = line.split("\t", -1);

		if (f.length != 4)
			return error(f[0], "input line needs 4 tab-separated "
			    + "fields, has " + f.length);

		String expr = f[0];
		ZoneId zone;
		Instant from;
		int count;

		try {
			zone = ZoneId.of(f[1]);
		} catch (DateTimeException e) {
			/*
			 * TimeZone.getTimeZone() silently falls back to GMT for a
			 * name it does not know; refuse instead.
			 */
			return error(expr, "unknown time zone: " + f[1]);
		}
		try {
			from = OffsetDateTime.parse(f[2]).toInstant();
		} catch (DateTimeException e) {
			return error(expr, "bad FROM instant: " + f[2]);
		}
		try {
			count = Integer.parseInt(f[3]);
		} catch (NumberFormatException e) {
			count = -1;
		}
		if (count < 0)
			return error(expr, "bad COUNT: " + f[3]);

		CronExpression ce;

		try {
			ce = new CronExpression(expr);
		} catch (java.text.ParseException e) {
			return error(expr, e.getMessage());
		} catch (RuntimeException e) {
			/* Quartz leaks a few unchecked exceptions from parsing. */
			return error(expr, e.toString());
		}
		ce.setTimeZone(TimeZone.getTimeZone(zone));

		StringBuilder sb = new StringBuilder();
		sb.append("{\"expr\":").append(quote(expr));
		sb.append(",\"tz\":").append(quote(f[1]));
		sb.append(",\"from\":").append(quote(format(from, zone)));
		sb.append(",\"next\":[");

		/*
		 * getTimeAfter() never returns for some inputs Quartz accepts
		 * ("L-30W" loops forever), so each evaluation runs on a
		 * worker thread with a deadline; a stuck one is reported and
		 * stopped, and the remaining lines still get their answers.
		 */
		final int n = count;
		Date[] result = new Date[n];
		RuntimeException[] thrown = new RuntimeException[1];
		Thread worker = new Thread(() -> {
			Date after = Date.from(from);

			try {
				for (int i = 0; i < n; i++) {
					after = ce.getTimeAfter(after);
					if (after == null || after.toInstant()
					    .atZone(zone).getYear() > LAST_YEAR)
						break;
					result[i] = after;
				}
			} catch (RuntimeException e) {
				thrown[0] = e;
			}
		});
		worker.setDaemon(true);
		worker.start();
		try {
			worker.join(TIMEOUT_MS);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
		if (worker.isAlive()) {
			kill(worker);
			return error(expr, "Quartz getTimeAfter did not return "
			    + "within " + TIMEOUT_MS / 1000 + " s (hangs)");
		}
		if (thrown[0] != null)
			return error(expr, "Quartz getTimeAfter threw "
			    + thrown[0]);

		/*
		 * Quartz works in milliseconds and moves on one second from
		 * AFTER; rotad works in whole seconds.  FROM has whole seconds
		 * and every result does too, so chaining is the same on both
		 * sides.
		 */
		for (int i = 0; i < n && result[i] != null; i++) {
			if (i > 0)
				sb.append(',');
			sb.append(quote(format(result[i].toInstant(), zone)));
		}
		sb.append("]}");
		return sb.toString();
	}

	/*
	 * Thread.stop() is the only way to end a thread spinning in code we
	 * do not own.  It still works on Java 17; on a JDK where it throws,
	 * the daemon thread is left to spin until the JVM exits.
	 */
	@SuppressWarnings({"deprecation", "removal"})
	static void kill(Thread t) {
		try {
			t.stop();
		} catch (UnsupportedOperationException e) {
			/* Java 20 and later. */
		}
	}

	static String format(Instant t, ZoneId zone) {
		return ISO.format(t.atZone(zone));
	}

	static String error(String expr, String message) {
		return "{\"expr\":" + quote(expr) + ",\"error\":"
		    + quote(message == null ? "(no message)" : message) + "}";
	}

	static String quote(String s) {
		StringBuilder sb = new StringBuilder(s.length() + 2);

		sb.append('"');
		for (int i = 0; i < s.length(); i++) {
			char c = s.charAt(i);

			switch (c) {
			case '"':
				sb.append("\\\"");
				break;
			case '\\':
				sb.append("\\\\");
				break;
			case '\n':
				sb.append("\\n");
				break;
			case '\r':
				sb.append("\\r");
				break;
			case '\t':
				sb.append("\\t");
				break;
			default:
				if (c < 0x20)
					sb.append(String.format("\\u%04x", (int)c));
				else
					sb.append(c);
			}
		}
		sb.append('"');
		return sb.toString();
	}
}
