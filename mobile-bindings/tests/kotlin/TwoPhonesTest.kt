// Two phones of one crew, from Kotlin through the generated bindings, against the real
// server started by tests/suites/bindings.sh: both edit the same task offline (notes,
// photos, completion), reconnect, and end with the same task as the server; design §2's
// rules hold (completion needs an after photo; notes from both kept; one photo for the
// same image; two completions = one completion + one extra visit). A third phone follows
// live through the background sync and its listener.
import uniffi.tarmim.*
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.zip.CRC32
import java.util.zip.Deflater
import kotlin.system.exitProcess

fun check(ok: Boolean, what: () -> String) {
    if (!ok) throw AssertionError(what())
}

fun env(name: String): String = System.getenv(name) ?: error("$name is not set: run through tests/suites/bindings.sh")

/** A small valid PNG whose pixels depend on [seed]. */
fun png(seed: Int): ByteArray {
    fun chunk(out: ByteArrayOutputStream, kind: String, data: ByteArray) {
        val body = kind.toByteArray() + data
        out.write(ByteBuffer.allocate(4).putInt(data.size).array())
        out.write(body)
        val crc = CRC32().apply { update(body) }
        out.write(ByteBuffer.allocate(4).putInt(crc.value.toInt()).array())
    }
    val raw = ByteArrayOutputStream()
    for (y in 0 until 8) {
        raw.write(0)
        for (x in 0 until 24) raw.write((seed * 31 + x * 7 + y) % 256)
    }
    val deflater = Deflater().apply { setInput(raw.toByteArray()); finish() }
    val buf = ByteArray(4096)
    val zipped = buf.copyOf(deflater.deflate(buf))
    val out = ByteArrayOutputStream()
    out.write(byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte(), 13, 10, 26, 10))
    chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(8).putInt(8).put(8).put(2).put(0).put(0).put(0).array())
    chunk(out, "IDAT", zipped)
    chunk(out, "IEND", ByteArray(0))
    return out.toByteArray()
}

class Recorder : ChangeListener {
    val changed = CopyOnWriteArrayList<String>()
    val states = CopyOnWriteArrayList<SyncState>()
    override fun onTasksChanged(taskIds: List<String>) { changed.addAll(taskIds) }
    override fun onTasksRemoved(taskIds: List<String>) {}
    override fun onChangeRefused(refused: RefusedChange) {}
    override fun onSyncState(state: SyncState) { states.add(state) }
}

fun waitFor(what: String, check: () -> Boolean) {
    val deadline = System.nanoTime() + 10_000_000_000L
    while (!check()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting for $what")
        Thread.sleep(50)
    }
}

/** Everything two replicas of a task must agree on. */
fun fingerprint(t: TaskDetail) = listOf(
    t.status, t.assignee, t.completionEvent, t.extraVisits.sorted(),
    t.notes.map { "${it.id}|${it.text}" }.sorted(),
    t.photos.map { "${it.hash}|${it.kind}" }.sorted(),
    t.timeline.map { "${it.eventId}|${it.kind}|${it.outcome}" }.sorted(),
)

val OPEN = listOf(TaskStatus.ASSIGNED, TaskStatus.ACKNOWLEDGED, TaskStatus.PAUSED, TaskStatus.IN_PROGRESS)

fun main() {
    val url = env("TARMIM_TEST_URL")
    val tmp: Path = Files.createTempDirectory("tarmim-kotlin")
    fun photo(seed: Int): String = tmp.resolve("photo-$seed.png").also { Files.write(it, png(seed)) }.toString()
    fun open(login: String, password: String, dir: String) =
        TarmimClient.open(ClientConfig(dataDir = tmp.resolve(dir).toString(), serverUrl = url, login = login, password = password, httpOnly = false))

    var passed = 0
    open(env("TARMIM_TEST_LOGIN"), env("TARMIM_TEST_PASSWORD"), "a").use { a ->
    open(env("TARMIM_TEST_SECOND_LOGIN"), env("TARMIM_TEST_SECOND_PASSWORD"), "b").use { b ->
    open(env("TARMIM_TEST_LOGIN"), env("TARMIM_TEST_PASSWORD"), "watcher").use { watcher ->
        check(a.account().crew == b.account().crew) { "one crew" }
        a.syncNow(); b.syncNow(); watcher.syncNow()
        // How the server wakes a phone in a pocket: an FCM token (rotated: replaced).
        a.registerPush("fcm", "kotlin-fcm-token:1")
        a.registerPush("fcm", "kotlin-fcm-token:2")
        try {
            a.registerPush("carrier-pigeon", "x")
            throw AssertionError("an unknown push kind was accepted")
        } catch (e: TarmimException.InvalidInput) {}
        val crew = a.account().crew
        val task = a.tasks().filter { it.assignee == crew && it.status in OPEN }
            .sortedWith(compareBy({ OPEN.indexOf(it.status) }, { it.id })).firstOrNull()
            ?: throw AssertionError("crew $crew has no open task left")
        val id = task.id
        check(b.tasks().any { it.id == id }) { "B holds the task" }
        // The crew's day order, computed on the phone: every open job of the crew once,
        // urgent ones first.
        val here = Position(lat = 35.70, lon = 51.40, atMs = System.currentTimeMillis(), accuracyM = null)
        val plan = a.dayOrder(here)
        check(plan.map { it.taskId }.toSet() == a.tasks().filter { it.assignee == crew && (it.status in OPEN || it.status == TaskStatus.REOPENED) }.map { it.id }.toSet()) { "day order lists the crew's open jobs: $plan" }
        check(plan.dropWhile { it.priority == TaskPriority.URGENT }.none { it.priority == TaskPriority.URGENT }) { "urgent first: $plan" }
        val notesBefore = a.task(id).notes.size

        val recorder = Recorder()
        watcher.setListener(recorder)
        watcher.startSync()
        waitFor("the watcher to be live") { recorder.states.contains(SyncState.Live) }

        // Offline on both phones.
        for (p in listOf(a, b)) {
            if (p.task(id).status == TaskStatus.ASSIGNED) p.acknowledge(id)
            if (p.task(id).status != TaskStatus.IN_PROGRESS) p.start(id)
        }
        a.addNote(id, "A (Kotlin): drain cleared")
        val aAfter = a.addPhoto(id, photo(11), PhotoKind.AFTER, null, task.lat, task.lon)
        val shared = a.addPhoto(id, photo(12), PhotoKind.AFTER, System.currentTimeMillis(), null, null)
        a.complete(id, listOf(aAfter))
        check(a.task(id).status == TaskStatus.COMPLETED) { "A completed locally" }

        b.addNote(id, "B (Kotlin): grate replaced")
        val beforeRefusal = fingerprint(b.task(id))
        try {
            b.complete(id, emptyList())
            throw AssertionError("completion without an after photo was accepted")
        } catch (e: TarmimException.Refused) {
            check(e.reason.contains("photo")) { "refusal says why: ${e.reason}" }
        }
        check(fingerprint(b.task(id)) == beforeRefusal) { "a refused completion changes nothing" }
        try {
            b.addPhoto(id, tmp.resolve("missing.jpg").toString(), PhotoKind.AFTER, null, null, null)
            throw AssertionError("a missing photo file was accepted")
        } catch (e: TarmimException.InvalidInput) {}
        check(b.addPhoto(id, photo(12), PhotoKind.AFTER, null, null, null) == shared) { "same image, same photo" }
        b.addPhoto(id, photo(13), PhotoKind.AFTER, null, null, null)
        b.complete(id, emptyList())
        check(a.pendingChanges() > 0uL && b.pendingChanges() > 0uL) { "edits wait on both phones" }
        passed++

        // Reconnect.
        val ra = a.syncNow()
        val rb = b.syncNow()
        val ra2 = a.syncNow()
        for (r in listOf(ra, rb)) {
            check(r.refused.isEmpty()) { "nothing refused: $r" }
            check(r.sent >= 1u && r.acknowledged == r.sent && r.pendingChanges == 0uL) { "all acknowledged: $r" }
        }
        check(rb.received >= 1u && ra2.received >= 1u) { "each received the other's edits: $rb $ra2" }
        val ta = a.task(id)
        val tb = b.task(id)
        check(fingerprint(ta) == fingerprint(tb)) { "both phones agree:\n${fingerprint(ta)}\n${fingerprint(tb)}" }
        val texts = ta.notes.map { it.text }
        check(ta.notes.size == notesBefore + 2 && "A (Kotlin): drain cleared" in texts && "B (Kotlin): grate replaced" in texts) { "both notes kept: $texts" }
        check(ta.photos.map { it.hash }.toSet().size == 3 && ta.photos.count { it.hash == shared } == 1) { "3 photos, shared once" }
        val completions = ta.timeline.filter { it.kind == "completed" }
        check(completions.size == 2 && ta.status == TaskStatus.COMPLETED) { "two completions: $completions" }
        check(ta.extraVisits.size == 1 && ta.completionEvent in completions.map { it.eventId }) { "one completion, one extra visit" }
        check(completions.map { it.outcome }.toSet() == setOf(EventOutcome.Applied, EventOutcome.ExtraVisit)) { "outcomes" }
        passed++

        // The server agrees: a fresh phone gets its copy; the live watcher heard of it.
        open(env("TARMIM_TEST_SECOND_LOGIN"), env("TARMIM_TEST_SECOND_PASSWORD"), "fresh").use { fresh ->
            fresh.syncNow()
            check(fingerprint(fresh.task(id)) == fingerprint(ta)) { "the server's copy agrees" }
        }
        waitFor("the watcher's listener") { id in recorder.changed }
        waitFor("the watcher's copy") { fingerprint(watcher.task(id)) == fingerprint(ta) }
        watcher.stopSync()
        check(recorder.states.last() == SyncState.Stopped) { "stopped: ${recorder.states}" }
        passed++
    } } }
    println("kotlin: $passed passed, 0 failed")
}
