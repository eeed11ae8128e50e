"""A small unittest for the MicroPython unix port, which has none built in.

Same API as the CPython module for what our tests use: TestCase with setUp/tearDown,
setUpClass/tearDownClass, the assert methods, subTest, skipTest; the skip decorators;
TestLoader.loadTestsFromModule, TextTestRunner and TestResult. Only on sys.path under
MicroPython (tools/hostpath.py); CPython uses its own.
"""

import sys


class SkipTest(Exception):
    pass


class _Failure(AssertionError):
    pass


def _repr(value):
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "..."


def skip(reason):
    def decorator(obj):
        if isinstance(obj, type):
            obj.__unittest_skip__ = reason
            return obj

        def skipped(*args, **kwargs):  # MicroPython functions take no attributes
            raise SkipTest(reason)

        return skipped

    return decorator


def skipIf(condition, reason):
    return skip(reason) if condition else (lambda obj: obj)


def skipUnless(condition, reason):
    return skip(reason) if not condition else (lambda obj: obj)


class _Raises:
    def __init__(self, case, expected, regex=None):
        self.case = case
        self.expected = expected
        self.regex = regex
        self.exception = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.case.fail("%s not raised" % getattr(self.expected, "__name__", self.expected))
        if not issubclass(exc_type, self.expected):
            return False
        self.exception = exc
        if self.regex is not None:
            import re

            if not re.search(self.regex, str(exc)):
                self.case.fail("%r does not match %r" % (str(exc), self.regex))
        return True


class _SubTest:
    def __init__(self, case, params):
        self.case = case
        self.params = params

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, AssertionError):
            raise _Failure("%s [subTest %s]" % (exc, self.params))
        return False


class TestCase:
    maxDiff = None

    def __init__(self, methodName="runTest"):
        self._testMethodName = methodName

    def id(self):
        return "%s.%s" % (self.__class__.__name__, self._testMethodName)

    def __str__(self):
        return "%s (%s)" % (self._testMethodName, self.__class__.__name__)

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        pass

    def tearDown(self):
        pass

    def addCleanup(self, func, *args, **kwargs):
        if not hasattr(self, "_cleanups"):
            self._cleanups = []
        self._cleanups.append((func, args, kwargs))

    def doCleanups(self):
        cleanups = getattr(self, "_cleanups", [])
        while cleanups:
            func, args, kwargs = cleanups.pop()
            func(*args, **kwargs)

    def skipTest(self, reason):
        raise SkipTest(reason)

    def subTest(self, msg=None, **params):
        return _SubTest(self, msg if msg is not None else params)

    def fail(self, msg=None):
        raise _Failure(msg or "fail")

    def _check(self, ok, default, msg):
        if not ok:
            raise _Failure(default if msg is None else "%s : %s" % (default, msg))

    def assertEqual(self, first, second, msg=None):
        self._check(first == second, "%s != %s" % (_repr(first), _repr(second)), msg)

    def assertNotEqual(self, first, second, msg=None):
        self._check(first != second, "%s == %s" % (_repr(first), _repr(second)), msg)

    assertListEqual = assertEqual
    assertTupleEqual = assertEqual
    assertDictEqual = assertEqual
    assertSequenceEqual = assertEqual

    def assertTrue(self, value, msg=None):
        self._check(value, "%s is not true" % _repr(value), msg)

    def assertFalse(self, value, msg=None):
        self._check(not value, "%s is not false" % _repr(value), msg)

    def assertIs(self, first, second, msg=None):
        self._check(first is second, "%s is not %s" % (_repr(first), _repr(second)), msg)

    def assertIsNot(self, first, second, msg=None):
        self._check(first is not second, "%s is %s" % (_repr(first), _repr(second)), msg)

    def assertIsNone(self, value, msg=None):
        self._check(value is None, "%s is not None" % _repr(value), msg)

    def assertIsNotNone(self, value, msg=None):
        self._check(value is not None, "unexpectedly None", msg)

    def assertIn(self, member, container, msg=None):
        self._check(member in container, "%s not in %s" % (_repr(member), _repr(container)), msg)

    def assertNotIn(self, member, container, msg=None):
        self._check(member not in container, "%s in %s" % (_repr(member), _repr(container)), msg)

    def assertIsInstance(self, obj, cls, msg=None):
        self._check(isinstance(obj, cls), "%s is not an instance of %s" % (_repr(obj), cls), msg)

    def assertLess(self, a, b, msg=None):
        self._check(a < b, "%s not less than %s" % (_repr(a), _repr(b)), msg)

    def assertLessEqual(self, a, b, msg=None):
        self._check(a <= b, "%s not less than or equal to %s" % (_repr(a), _repr(b)), msg)

    def assertGreater(self, a, b, msg=None):
        self._check(a > b, "%s not greater than %s" % (_repr(a), _repr(b)), msg)

    def assertGreaterEqual(self, a, b, msg=None):
        self._check(a >= b, "%s not greater than or equal to %s" % (_repr(a), _repr(b)), msg)

    def assertAlmostEqual(self, a, b, places=None, msg=None, delta=None):
        if delta is not None:
            ok = abs(a - b) <= delta
            text = "%r != %r within %r delta" % (a, b, delta)
        else:
            ok = round(abs(a - b), 7 if places is None else places) == 0
            text = "%r != %r within %r places" % (a, b, 7 if places is None else places)
        self._check(a == b or ok, text, msg)

    def assertCountEqual(self, first, second, msg=None):
        self._check(sorted(first) == sorted(second), "%s and %s differ" % (first, second), msg)

    def assertRegex(self, text, regex, msg=None):
        import re

        self._check(re.search(regex, text), "%r does not match %r" % (text, regex), msg)

    def assertRaises(self, expected, *args, **kwargs):
        ctx = _Raises(self, expected)
        if not args:
            return ctx
        with ctx:
            args[0](*args[1:], **kwargs)
        return None

    def assertRaisesRegex(self, expected, regex, *args, **kwargs):
        ctx = _Raises(self, expected, regex)
        if not args:
            return ctx
        with ctx:
            args[0](*args[1:], **kwargs)
        return None

    def run(self, result):
        method = getattr(self, self._testMethodName)
        reason = getattr(method, "__unittest_skip__", None)
        if reason is None:
            reason = getattr(self.__class__, "__unittest_skip__", None)
        result.testsRun += 1
        if reason is not None:
            result.addSkip(self, reason)
            return
        try:
            self.setUp()
            try:
                method()
            finally:
                self.tearDown()
                self.doCleanups()
        except SkipTest as exc:
            result.addSkip(self, exc.args[0] if exc.args else "")
        except AssertionError as exc:
            result.addFailure(self, exc)
        except Exception as exc:  # noqa: BLE001 - a test runner reports every error
            result.addError(self, exc)
        else:
            result.addSuccess(self)


class TestSuite:
    def __init__(self, tests=()):
        self._tests = list(tests)

    def addTest(self, test):
        self._tests.append(test)

    def countTestCases(self):
        return len(self._tests)

    def __iter__(self):
        return iter(self._tests)

    def run(self, result):
        classes_set_up = []
        for test in self._tests:
            cls = test.__class__
            if cls not in classes_set_up:
                classes_set_up.append(cls)
                if getattr(cls, "__unittest_skip__", None) is None:
                    cls.setUpClass()
            test.run(result)
            if result.shouldStop:
                break
        for cls in classes_set_up:
            if getattr(cls, "__unittest_skip__", None) is None:
                cls.tearDownClass()
        return result


class TestResult:
    def __init__(self, stream=None, verbosity=1):
        self.testsRun = 0
        self.failures = []
        self.errors = []
        self.skipped = []
        self.shouldStop = False
        self._stream = stream or sys.stdout
        self._verbosity = verbosity

    def wasSuccessful(self):
        return not self.failures and not self.errors

    def _note(self, test, word, char):
        if self._verbosity > 1:
            self._stream.write("%s ... %s\n" % (test, word))
        else:
            self._stream.write(char)

    def addSuccess(self, test):
        self._note(test, "ok", ".")

    def addSkip(self, test, reason):
        self.skipped.append((test, reason))
        self._note(test, "skipped %r" % reason, "s")

    def addFailure(self, test, exc):
        self.failures.append((test, _describe(exc)))
        self._note(test, "FAIL", "F")

    def addError(self, test, exc):
        self.errors.append((test, _describe(exc)))
        self._note(test, "ERROR", "E")

    def printErrors(self):
        self._stream.write("\n")
        for kind, items in (("FAIL", self.failures), ("ERROR", self.errors)):
            for case, text in items:
                self._stream.write("=" * 70 + "\n%s: %s\n%s\n" % (kind, case, text))


def _describe(exc):
    import io

    out = io.StringIO()
    sys.print_exception(exc, out)
    return out.getvalue()


class TestLoader:
    testMethodPrefix = "test"

    def getTestCaseNames(self, cls):
        names = [n for n in dir(cls) if n.startswith(self.testMethodPrefix)]
        return sorted(n for n in names if callable(getattr(cls, n)))

    def loadTestsFromTestCase(self, cls):
        return TestSuite(cls(name) for name in self.getTestCaseNames(cls))

    def loadTestsFromModule(self, module):
        suite = TestSuite()
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, TestCase) and obj is not TestCase:
                for test in self.loadTestsFromTestCase(obj):
                    suite.addTest(test)
        return suite


defaultTestLoader = TestLoader()


class TextTestRunner:
    def __init__(self, stream=None, verbosity=1):
        self.stream = stream or sys.stdout
        self.verbosity = verbosity

    def run(self, test):
        result = TestResult(self.stream, self.verbosity)
        test.run(result)
        result.printErrors()
        return result


def main(module="__main__"):
    mod = sys.modules[module] if isinstance(module, str) else module
    result = TextTestRunner().run(defaultTestLoader.loadTestsFromModule(mod))
    sys.exit(0 if result.wasSuccessful() else 1)
